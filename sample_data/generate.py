"""Generate Easel's sample datasets (synthetic, realistic business data) deterministically.

    python sample_data/generate.py [--out DIR]

Writes customer_churn.csv (2 categories), support_tickets.csv (3 categories), house_prices.csv
(numeric) and store_sales.csv (time series). The same seeds give byte-identical files. Only numpy
and pandas are needed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def customer_churn(n: int = 5000, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "standard", "premium"], n, p=[0.45, 0.35, 0.20])
    regions = ["Northeast", "Southeast", "Midwest", "Southwest", "West", "Northwest"]
    region = rng.choice(
        regions + ["Alaska", "Hawaii"], n, p=[0.2, 0.2, 0.2, 0.15, 0.15, 0.08, 0.01, 0.01]
    )
    payment = rng.choice(
        ["credit card", "bank transfer", "electronic check", "mailed check"],
        n,
        p=[0.35, 0.25, 0.3, 0.1],
    )
    paperless = rng.choice(["yes", "no"], n, p=[0.6, 0.4])
    tenure = np.clip(rng.gamma(1.6, 16, n).astype(int) + 1, 1, 72)
    base = {"basic": 29.0, "standard": 59.0, "premium": 94.0}
    monthly = np.array([base[p] for p in plan]) + rng.normal(0, 8, n)
    monthly = np.round(np.clip(monthly, 15, 130), 2)
    total = np.round(monthly * tenure * rng.uniform(0.95, 1.02, n), 2)
    calls = rng.poisson(1.2 + 1.5 * (plan == "basic") + 0.02 * np.maximum(30 - tenure, 0), n)
    satisfaction = np.clip(np.round(4.2 - 0.35 * calls + rng.normal(0, 0.8, n)), 1, 5)
    start = pd.Timestamp("2025-06-30")
    signup = start - pd.to_timedelta(tenure * 30 + rng.integers(0, 30, n), unit="D")

    z = (
        -1.2
        - 0.045 * tenure
        + 0.018 * (monthly - 60)
        + 0.42 * calls
        - 0.55 * (satisfaction - 3)
        + 0.8 * (payment == "electronic check")
        + 0.5 * (plan == "basic") * (tenure < 12)
        - 0.3 * (paperless == "no")
        + rng.normal(0, 0.45, n)
    )
    churn = rng.random(n) < _sigmoid(1.6 * z + 0.3)

    negative = [
        "the price went up again",
        "too many outages this month",
        "support never called back",
        "considering switching to another provider",
        "billing error not fixed",
    ]
    positive = [
        "happy with the service",
        "fast internet and friendly support",
        "great value for the price",
        "no complaints so far",
        "installation was quick",
    ]
    neutral = ["asked about plan options", "moved to a new address", "updated payment details"]
    feedback = []
    for c in churn:
        r = rng.random()
        if r < 0.3:
            feedback.append(None)
            continue
        pool = (
            negative
            if (c and rng.random() < 0.7) or (not c and rng.random() < 0.15)
            else (positive if rng.random() < 0.75 else neutral)
        )
        feedback.append(str(rng.choice(pool)).capitalize() + ".")

    df = pd.DataFrame(
        {
            "customer_id": [f"C-{i:06d}" for i in rng.permutation(n) + 100000],
            "signup_date": signup.strftime("%Y-%m-%d"),
            "plan": plan,
            "region": region,
            "payment_method": payment,
            "paperless_billing": paperless,
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": calls,
            "satisfaction_score": satisfaction.astype(float),
            "last_feedback": feedback,
            "country": "US",
            "churned": np.where(churn, "yes", "no"),
        }
    )
    df.loc[rng.random(n) < 0.03, "monthly_charges"] = np.nan
    df.loc[rng.random(n) < 0.08, "satisfaction_score"] = np.nan
    return df


def support_tickets(n: int = 4000, seed: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    product = rng.choice(["Billing", "Mobile app", "Web portal", "API", "Hardware", "Reports"], n)
    channel = rng.choice(["email", "phone", "chat", "web"], n, p=[0.35, 0.2, 0.3, 0.15])
    tier = rng.choice(["free", "pro", "enterprise"], n, p=[0.5, 0.35, 0.15])
    age_days = rng.integers(1, 2500, n)
    prior = rng.poisson(2 + 3 * (tier == "enterprise"), n)
    sla = np.select([tier == "enterprise", tier == "pro"], [4, 24], 72).astype(float)
    outage = rng.random(n) < 0.08 + 0.1 * np.isin(product, ["API", "Web portal"])
    created = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24 * 60, n), "min")
    hour = created.hour.to_numpy()

    urgent = ["down", "cannot log in", "data loss", "payment failed", "error 500", "outage"]
    routine = [
        "question about",
        "how do I",
        "feature request",
        "change my",
        "invoice copy",
        "feedback on",
    ]
    z = (
        -0.6
        + 1.6 * outage
        + 0.9 * (tier == "enterprise")
        + 0.35 * (tier == "pro")
        + 0.5 * (channel == "phone")
        + 0.06 * prior
        + 0.4 * np.isin(product, ["API", "Billing"])
        + 0.3 * ((hour < 7) | (hour > 20))
        + rng.normal(0, 0.6, n)
    )
    urgent_words = rng.random(n) < _sigmoid(z - 0.5)
    z = z + 1.1 * urgent_words
    priority = np.select([z > 2.2, z > 0.9], ["high", "medium"], "low")
    subject = [
        f"{rng.choice(urgent if u else routine)} {p.lower()}"
        + (" asap" if u and rng.random() < 0.3 else "")
        for u, p in zip(urgent_words, product, strict=True)
    ]
    length = np.round(rng.lognormal(5 + 0.4 * urgent_words, 0.6)).astype(int)
    df = pd.DataFrame(
        {
            "ticket_id": [f"T{i:07d}" for i in rng.permutation(n) + 2000000],
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
            "product": product,
            "channel": channel,
            "customer_tier": tier,
            "account_age_days": age_days,
            "num_prior_tickets": prior,
            "response_sla_hours": sla,
            "subject": subject,
            "description_length": length.astype(float),
            "is_outage_related": np.where(outage, "true", "false"),
            "priority": priority,
        }
    )
    df.loc[rng.random(n) < 0.04, "description_length"] = np.nan
    df.loc[rng.random(n) < 0.03, "channel"] = None
    return df


def house_prices(n: int = 3000, seed: int = 13) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hoods = {
        "Old Town": 1.25,
        "Riverside": 1.15,
        "Hillcrest": 1.4,
        "Maple Park": 1.0,
        "Eastgate": 0.85,
        "Westfield": 0.95,
        "Lakeview": 1.35,
        "Northridge": 0.9,
        "Southside": 0.75,
        "Cedar Heights": 1.1,
        "Brookline": 1.2,
        "Industrial Flats": 0.7,
    }
    names = list(hoods)
    hood = rng.choice(names, n)
    style = rng.choice(["1 story", "2 story", "split level", "townhouse", "ranch"], n)
    year = np.clip(rng.normal(1975, 22, n).astype(int), 1900, 2024)
    area = np.round(np.clip(rng.lognormal(7.45, 0.32, n), 600, 6000)).astype(int)
    lot = np.round(np.clip(area * rng.lognormal(1.3, 0.5, n), 1200, 60000)).astype(float)
    bedrooms = np.clip(np.round(area / 600 + rng.normal(0, 0.7, n)), 1, 7).astype(int)
    bathrooms = np.clip(np.round((area / 900 + rng.normal(0, 0.4, n)) * 2) / 2, 1, 5)
    garage = np.clip(rng.poisson(1.6, n), 0, 4).astype(float)
    pool = rng.random(n) < 0.08
    condition = np.clip(np.round(rng.normal(6, 1.6, n)), 1, 10).astype(int)
    heating = rng.choice(["gas forced air", "heat pump", "electric baseboard", "radiant"], n)
    sold = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, n), unit="D")
    months = ((sold - pd.Timestamp("2022-01-01")).days / 30.4).to_numpy()

    age = 2025 - year
    log_price = (
        np.log(185.0)
        + 0.9 * np.log(area)
        + np.log(np.array([hoods[h] for h in hood]))
        + 0.05 * (condition - 6)
        - 0.004 * age
        + 0.0000035 * age**2 * 10
        + 0.08 * np.log1p(lot / 10000)
        + 0.04 * garage
        + 0.07 * pool
        + 0.004 * months
        + 0.05 * (style == "2 story")
        - 0.06 * (style == "townhouse")
        + rng.normal(0, 0.11, n)
    )
    price = np.round(np.exp(log_price) / 100) * 100
    df = pd.DataFrame(
        {
            "listing_id": [f"L{i:06d}" for i in rng.permutation(n) + 500000],
            "neighborhood": hood,
            "house_style": style,
            "year_built": year,
            "living_area_sqft": area,
            "lot_area_sqft": lot,
            "bedrooms": bedrooms,
            "bathrooms": bathrooms,
            "garage_cars": garage,
            "has_pool": np.where(pool, "yes", "no"),
            "condition": condition,
            "sold_date": sold.strftime("%m/%d/%Y"),
            "heating_type": heating,
            "sale_price": price,
        }
    )
    df.loc[rng.random(n) < 0.05, "lot_area_sqft"] = np.nan
    df.loc[rng.random(n) < 0.03, "garage_cars"] = np.nan
    return df


def store_sales(seed: int = 14) -> pd.DataFrame:
    """Daily units sold by 6 stores over two years: trend, weekly and yearly seasons, promotions,
    a few days without a record."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2023-01-01", "2024-12-31", freq="D")
    t = np.arange(len(days))
    dow = days.day_of_week.to_numpy()
    doy = days.day_of_year.to_numpy()
    week = np.array([0.85, 0.8, 0.85, 0.95, 1.15, 1.35, 1.05])[dow]
    year = 1 + 0.12 * np.sin(2 * np.pi * (doy - 100) / 365.25)
    december = 1 + 0.35 * np.exp(-(((doy - 355) / 9.0) ** 2))
    stores = [  # name, city, size in sqft, base units, yearly growth
        ("Harbor Point", "Seaport", 12000, 420, 0.10),
        ("Maple Street", "Midvale", 8000, 260, 0.04),
        ("Northgate Mall", "Northgate", 20000, 610, 0.07),
        ("Old Mill", "Midvale", 6000, 150, -0.05),
        ("Riverside Plaza", "Seaport", 15000, 480, 0.15),
        ("Sunset Outlet", "Westbrook", 10000, 330, 0.02),
    ]
    frames = []
    for name, city, size, base, growth in stores:
        promo = rng.random(len(days)) < 0.08
        level = base * (1 + growth) ** (t / 365.25)
        mean = level * week * year * december * np.where(promo, 1.25, 1.0)
        units = rng.poisson(mean * rng.lognormal(0, 0.06, len(days)))
        frame = pd.DataFrame(
            {
                "date": days.strftime("%Y-%m-%d"),
                "store": name,
                "city": city,
                "store_size_sqft": size,
                "promotion": np.where(promo, "yes", "no"),
                "units_sold": units,
            }
        )
        frames.append(frame.drop(index=rng.choice(len(days), 3, replace=False)))
    return pd.concat(frames, ignore_index=True)


DATASETS = {
    "customer_churn.csv": customer_churn,
    "support_tickets.csv": support_tickets,
    "house_prices.csv": house_prices,
    "store_sales.csv": store_sales,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=HERE)
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for name, make in DATASETS.items():
        df = make()
        df.to_csv(a.out / name, index=False, lineterminator="\n")
        print(f"{name}: {len(df):,} rows x {df.shape[1]} columns")


if __name__ == "__main__":
    main()
