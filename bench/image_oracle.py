"""Write a folder of test images and what Pillow makes of them: the image oracle of genbox's
folder source (tests/common/data/test_folder.cpp).

usage: python bench/image_oracle.py DIR

DIR/images/ gets images of every kind the source must read (PNG grey, grey+alpha, RGB, RGBA and
palette; JPEG in RGB and CMYK; BMP; GIF), sized to exercise each crop. For every geometry in
GEOMETRIES and every image, DIR/expected/<geometry>/<name>.bin holds the uint8 C x H x W pixels
Pillow gives: decoded, converted with convert("RGB") or convert("L"), then fitted as ADM's
center_crop_arr (generalised to H x W) or a plain bicubic resize. DIR/index.json lists them.
"""

import json
import os
import sys

import numpy as np
from PIL import Image

GEOMETRIES = {"center_rgb_24": (24, 24, 3, "center"), "center_grey_16x20": (16, 20, 1, "center"),
              "resize_rgb_20x12": (20, 12, 3, "resize")}


def center_crop(image, height, width):
    while image.size[0] >= 2 * width and image.size[1] >= 2 * height:
        image = image.resize(tuple(x // 2 for x in image.size), resample=Image.BOX)
    scale = max(height / image.size[1], width / image.size[0])
    image = image.resize((round(image.size[0] * scale), round(image.size[1] * scale)), resample=Image.BICUBIC)
    array = np.array(image)
    top, left = (array.shape[0] - height) // 2, (array.shape[1] - width) // 2
    return array[top:top + height, left:left + width]


def sources(rng):
    """(file name, PIL image, save options): every mode and format, smooth content (JPEG-friendly)."""
    def smooth(h, w, c):
        y, x = np.mgrid[0:h, 0:w]
        planes = [(127 + 100 * np.sin(x / (5 + k) + y / (7 + 2 * k) + k)) for k in range(c)]
        noise = rng.integers(-10, 10, (h, w, c))
        return np.clip(np.stack(planes, -1) + noise, 0, 255).astype(np.uint8)
    rgb = smooth(90, 130, 3)
    out = [("rgb.png", Image.fromarray(rgb), {}),
           ("grey.png", Image.fromarray(smooth(61, 47, 1)[:, :, 0]), {}),
           ("grey_alpha.png", Image.fromarray(smooth(40, 52, 2), "LA"), {}),
           ("rgba.png", Image.fromarray(smooth(33, 70, 4), "RGBA"), {}),
           ("palette.png", Image.fromarray(rgb).quantize(64), {}),
           ("photo.jpg", Image.fromarray(smooth(120, 96, 3)), {"quality": 95}),
           ("cmyk.jpg", Image.fromarray(smooth(50, 64, 3)).convert("CMYK"), {"quality": 95}),
           ("small.bmp", Image.fromarray(smooth(24, 30, 3)), {}),
           ("anim.gif", Image.fromarray(rgb).quantize(32), {}),
           ("tall.png", Image.fromarray(smooth(300, 41, 3)), {})]
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[3])
    root = sys.argv[1]
    rng = np.random.default_rng(7)
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    index = {"images": [], "geometries": {}}
    for name, image, options in sources(rng):
        path = os.path.join(root, "images", name)
        image.save(path, **options)
        index["images"].append(name)
    for key, (height, width, channels, crop) in GEOMETRIES.items():
        index["geometries"][key] = {"height": height, "width": width, "channels": channels, "crop": crop}
        os.makedirs(os.path.join(root, "expected", key), exist_ok=True)
        for name in index["images"]:
            with Image.open(os.path.join(root, "images", name)) as opened:
                image = opened.convert("RGB" if channels == 3 else "L")
            if crop == "center":
                array = center_crop(image, height, width)
            else:
                array = np.array(image.resize((width, height), resample=Image.BICUBIC))
            array = array.reshape(height, width, channels).transpose(2, 0, 1)
            array.astype(np.uint8).tofile(os.path.join(root, "expected", key, name + ".bin"))
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump(index, f)


if __name__ == "__main__":
    main()
