"""Browser-side speed of the app, measured in Debian's Chromium through Playwright:

* app start: launching `streamlit run app/main.py` until the Home page shows its figures;
* first page: opening Home in a new browser page on a running server;
* page switch: clicking a sidebar link until the new page has finished its run, with a
  200,000-row dataset in the workspace (and selected);
* what-if: changing one input on Predict until the new answer is shown.

    python benchmarks/app_speed.py            # 200,000 rows, 7 repetitions
    python benchmarks/app_speed.py --rows 50000 --reps 3

Medians (and the slowest) of the repetitions; aims: first page < 3 s, page switch < 1 s, what-if
answer < 300 ms after the input changes.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_workspace(root: Path, rows: int) -> None:
    import automl
    from automl.workspace import Workspace
    from sample_data.generate import customer_churn

    ws = Workspace(root)
    big = customer_churn(rows, seed=5)  # the sample generator, at the benchmark's size
    ws.add_dataset("churn 200k", big, "generated for benchmarks")
    model = automl.AutoML(time_budget=20, seed=0).fit(big, target="churned")
    name, version, path = ws.new_model_path("churn 200k model")
    model.save(path)
    ws.add_model(name, version, path, "churn 200k", model.model_)


def summary(label: str, values: list[float], aim: float | None) -> None:
    med = statistics.median(values)
    verdict = "" if aim is None else ("  (aim met)" if med < aim else "  (aim NOT met)")
    print(f"{label:<52} median {med * 1000:7.0f} ms   max {max(values) * 1000:7.0f} ms{verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="easel-appspeed-") as tmp:
        ws_root = Path(tmp) / "ws"
        t0 = time.perf_counter()
        prepare_workspace(ws_root, args.rows)
        print(
            f"workspace with a {args.rows:,}-row dataset and its model: "
            f"{time.perf_counter() - t0:.0f} s"
        )
        env = {**os.environ, "EASEL_WORKSPACE": str(ws_root)}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            start = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless",
                 "true", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1200})
                while True:
                    try:
                        page.goto(url, timeout=2000)
                        break
                    except Exception:
                        time.sleep(0.1)
                page.get_by_test_id("stMetricValue").first.wait_for(timeout=60_000)
                page.wait_for_function(IDLE)
                print(f"app start (launch to Home shown): {time.perf_counter() - start:.2f} s")

                first = []
                for _ in range(args.reps):
                    q = browser.new_page(viewport={"width": 1400, "height": 1200})
                    t = time.perf_counter()
                    q.goto(url)
                    q.get_by_test_id("stMetricValue").first.wait_for(timeout=30_000)
                    q.wait_for_function(IDLE)
                    first.append(time.perf_counter() - t)
                    q.close()
                summary("first page (Home, new browser page)", first, 3.0)

                # each page's last element: the switch is done when it is on screen
                markers = {
                    "Build": "Choose the column you want Easel to predict.",
                    "Explore": "Colour / group by",
                    "Prepare": "4. Before and after",
                    "Analyze": "Data that went in",
                    "Predict": "Inputs start at typical values",
                    "Models": "Manage",
                    "Home": "Builds running",
                }
                switches: dict[str, list[float]] = {}
                for _ in range(args.reps):
                    for name, marker in markers.items():
                        link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=name)
                        t = time.perf_counter()
                        link.click()
                        page.get_by_text(marker, exact=False).first.wait_for(timeout=60_000)
                        page.wait_for_function(IDLE, timeout=60_000)
                        switches.setdefault(name, []).append(time.perf_counter() - t)
                for name in markers:
                    summary(
                        f"page switch to {name} ({args.rows:,}-row dataset)", switches[name], 1.0
                    )

                page.get_by_test_id("stSidebarNav").get_by_role("link", name="Predict").click()
                page.get_by_text("Confidence").first.wait_for(timeout=60_000)
                page.wait_for_function(IDLE)
                field = page.get_by_label("support_calls", exact=True)
                confidence = (
                    "() => [...document.querySelectorAll('p')].filter(e => e.children.length == 0"
                    " && e.innerText.startsWith('Confidence')).map(e => e.innerText).join('|')"
                )
                whatif = []
                for i in range(args.reps * 2):
                    before = page.evaluate(confidence)
                    field.fill("9" if i % 2 == 0 else "0")
                    t = time.perf_counter()
                    field.press("Enter")
                    page.wait_for_function(
                        f"(b) => ({confidence})() && ({confidence})() !== b",
                        arg=before,
                        timeout=30_000,
                    )
                    whatif.append(time.perf_counter() - t)
                summary("what-if (Enter until the new confidence is shown)", whatif, 0.3)
            finally:
                proc.terminate()
                proc.wait(timeout=20)
                browser.close()


if __name__ == "__main__":
    main()
