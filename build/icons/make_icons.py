"""Draw the app icon (a note page on a teal tile) as PNG, ICO and ICNS. Run once; the files are checked in.

    .venv/bin/python build/icons/make_icons.py
"""

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
TEAL, WHITE, INK = (13, 148, 136, 255), (255, 255, 255, 255), (15, 118, 110, 255)


def draw(size: int = 1024) -> Image.Image:
    s = size / 256
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([8 * s, 8 * s, 248 * s, 248 * s], radius=48 * s, fill=TEAL)
    d.rounded_rectangle([64 * s, 40 * s, 192 * s, 216 * s], radius=12 * s, fill=WHITE)
    for i, width in enumerate((96, 80, 96, 64, 88)):
        y = (72 + i * 26) * s
        d.rounded_rectangle([80 * s, y, (80 + width) * s, y + 10 * s], radius=5 * s, fill=INK)
    return img


if __name__ == "__main__":
    big = draw()
    big.resize((256, 256), Image.LANCZOS).save(HERE / "practice-assistant.png")
    big.save(HERE / "practice-assistant.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    big.resize((512, 512), Image.LANCZOS).save(HERE / "practice-assistant.icns")
