"""The README's picture of a report: a page written by `ppltop report`, opened in headless
Chromium, a surprising token hovered, the document views photographed.

    python scripts/report_screenshot.py REPORT.html docs/report.png
"""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.headless_chromium import Chromium, find_chromium  # noqa: E402


def main(page: Path, out: Path, width: int = 1100, height: int = 560) -> None:
    from PIL import Image

    with Chromium(find_chromium(), width=width, height=900) as browser:
        browser.open(page.resolve().as_uri())
        browser.js("document.getElementById('documents').scrollIntoView()")
        box = browser.js("(() => { const s = document.querySelectorAll('.doc .text > .h')[2];"
                         " const r = s.getBoundingClientRect();"
                         " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        browser.hover(*box)
        top = browser.js("document.getElementById('documents').getBoundingClientRect().top"
                         " + window.scrollY")
        shot = browser.call("Page.captureScreenshot", {
            "format": "png", "clip": {"x": 0, "y": top, "width": width, "height": height,
                                      "scale": 1}, "captureBeyondViewport": True})
    image = Image.open(io.BytesIO(base64.b64decode(shot["data"])))
    image.convert("P", palette=Image.Palette.ADAPTIVE, colors=96).save(out, optimize=True)
    print(f"{out}: {out.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
