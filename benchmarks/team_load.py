"""Team load: many signed-in people making what-if predictions while builds run.

One Chromium with N browser contexts (one signed-in analyst each) opens Predict on a model
shared with everyone and makes R what-if predictions (change an input, wait for the new answer),
all at once, while two builds run and a third waits in the build queue (EASEL_MAX_BUILDS=2).
The same is measured first with one session and no builds, as the baseline. Prints errors (page
errors, error boxes, timeouts: must be 0) and the p50 / p95 what-if latency of both runs.

    python -m benchmarks.team_load                 # 10 sessions x 10 what-ifs
    python -m benchmarks.team_load --sessions 4 --whatifs 5 --build-rows 50000

Loopback only; every wait is bounded (a what-if that takes over 60 s counts as an error).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.app_speed import ARGS, CHROMIUM, IDLE, free_port  # noqa: E402

PW = "correct horse battery"
CONFIDENCE = (
    "() => [...document.querySelectorAll('p')].filter(e => e.children.length == 0"
    " && e.innerText.startsWith('Confidence')).map(e => e.innerText).join('|')"
)


def prepare(root: Path, sessions: int, build_rows: int) -> None:
    import automl
    from automl.workspace import Workspace
    from automl.workspace.users import Team
    from sample_data.generate import customer_churn

    team = Team(Workspace(root))
    team.add("ada", "admin", PW)
    for i in range(sessions):
        team.add(f"analyst{i}", "analyst", PW)
    ada = team.workspace(team.get("ada"))
    small = customer_churn(2000, seed=1)
    ada.add_dataset("churn", small, "generated for benchmarks")
    model = automl.AutoML(time_budget=600, max_trials=6, seed=0).fit(small, target="churned")
    name, version, path = ada.new_model_path("churn model")
    model.save(path)
    ada.add_model(name, version, path, "churn", model.model_)
    ada.share("model", "churn model", "*")
    ada.add_dataset("churn big", customer_churn(build_rows, seed=2), "generated for benchmarks")


def start_builds(root: Path, n: int, budget: float) -> list[int]:
    from automl.workspace import Workspace
    from automl.workspace.jobs import start_training_job
    from automl.workspace.users import Team

    team = Team(Workspace(root))
    ada = team.workspace(team.get("ada"))
    settings = {"time_budget": budget, "preset": "quick"}
    return [
        start_training_job(ada, "churn big", "churned", f"load build {i}", settings)
        for i in range(n)
    ]


def job_states(root: Path, ids: list[int]) -> list[str]:
    from automl.workspace import Workspace

    ws = Workspace(root, admin=True)
    return [ws.get_job(i)["status"] for i in ids]


async def one_session(browser: object, url: str, user: str, whatifs: int) -> tuple[list, int]:
    """Sign in, open Predict, make ``whatifs`` what-ifs; returns (latencies, errors)."""
    errors = 0
    latencies: list[float] = []
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1400})  # type: ignore[attr-defined]
    page = await ctx.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    try:
        await page.goto(url, timeout=60_000)
        await page.get_by_label("User name", exact=True).fill(user)
        await page.get_by_label("Password", exact=True).fill(PW)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_text("Signed in as").wait_for(timeout=60_000)
        await page.get_by_test_id("stSidebarNav").get_by_role("link", name="Predict").click()
        await page.get_by_text("Confidence").first.wait_for(timeout=60_000)
        await page.wait_for_function(IDLE, timeout=60_000)
        field = page.get_by_label("support_calls", exact=True)
        for i in range(whatifs):
            before = await page.evaluate(CONFIDENCE)
            await field.fill("9" if i % 2 == 0 else "0")
            t = time.perf_counter()
            await field.press("Enter")
            try:
                await page.wait_for_function(
                    f"(b) => ({CONFIDENCE})() && ({CONFIDENCE})() !== b",
                    arg=before,
                    timeout=60_000,
                )
                latencies.append(time.perf_counter() - t)
            except Exception:
                errors += 1
        errors += await page.get_by_test_id("stException").count()
        errors += await page.get_by_test_id("stAlertContentError").count()
    except Exception as exc:
        print(f"  {user}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        errors += 1
    finally:
        await ctx.close()
    return latencies, errors + len(page_errors)


async def run_sessions(url: str, users: list[str], whatifs: int) -> tuple[list[float], int]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        results = await asyncio.gather(*(one_session(browser, url, u, whatifs) for u in users))
        await browser.close()
    return [x for lat, _ in results for x in lat], sum(e for _, e in results)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def report(label: str, lat: list[float], errors: int) -> None:
    print(
        f"{label:<44} what-ifs {len(lat):4d}  errors {errors}  "
        f"p50 {pct(lat, 0.5) * 1000:6.0f} ms  p95 {pct(lat, 0.95) * 1000:6.0f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--whatifs", type=int, default=10)
    ap.add_argument("--build-rows", type=int, default=200_000)
    ap.add_argument("--build-budget", type=float, default=120.0)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="easel-load-"))
    os.environ["EASEL_WORKSPACE"] = str(root)
    os.environ["EASEL_MAX_BUILDS"] = "2"
    print(f"workspace {root}: preparing {args.sessions} users, a shared model, a build table")
    prepare(root, args.sessions, args.build_rows)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        time.sleep(5)
        lat1, err1 = asyncio.run(run_sessions(url, ["analyst0"], args.whatifs * 2))
        report("baseline: 1 session, no builds", lat1, err1)
        jobs = start_builds(root, 3, args.build_budget)
        time.sleep(3)
        states = job_states(root, jobs)
        print(f"builds while measuring: {', '.join(states)}")
        users = [f"analyst{i}" for i in range(args.sessions)]
        t = time.perf_counter()
        latn, errn = asyncio.run(run_sessions(url, users, args.whatifs))
        wall = time.perf_counter() - t
        report(f"{args.sessions} sessions, 2 builds running, 1 queued", latn, errn)
        print(
            f"builds after: {', '.join(job_states(root, jobs))}; sessions took {wall:.0f} s; "
            f"p50 ratio {pct(latn, 0.5) / pct(lat1, 0.5):.1f}x, "
            f"p95 ratio {pct(latn, 0.95) / pct(lat1, 0.95):.1f}x"
        )
        from automl.workspace import Workspace
        from automl.workspace.jobs import cancel_job

        for j in jobs:
            cancel_job(Workspace(root, admin=True), j)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
