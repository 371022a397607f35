"""Copy the browser tests' screenshots into docs/images for the user guide: cropped to the page's
content and scaled to 1000 px wide.

    make test   # or: pytest tests/app/test_browser.py (writes test-artifacts/screenshots)
    python scripts/guide_images.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageChops

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "test-artifacts" / "screenshots"
DST = ROOT / "docs" / "images"
WIDTH = 1000


def crop(img: Image.Image) -> Image.Image:
    rgb = img.convert("RGB")
    main = rgb.crop((rgb.width // 4, 0, rgb.width, rgb.height))  # right of the sidebar
    background = Image.new("RGB", main.size, main.getpixel((main.width - 1, main.height - 1)))
    box = ImageChops.difference(main, background).getbbox()
    if box is None:
        return rgb
    return rgb.crop((0, 0, rgb.width, min(rgb.height, box[3] + 40)))


def main() -> None:
    DST.mkdir(parents=True, exist_ok=True)
    for src in sorted(SRC.glob("*.png")):
        img = crop(Image.open(src))
        if img.width > WIDTH:
            img = img.resize((WIDTH, round(img.height * WIDTH / img.width)), Image.LANCZOS)
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            DST / src.name, optimize=True
        )
        print(f"{src.name}: {img.width}x{img.height}, {(DST / src.name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
