# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (oes)
#     language: python
#     name: oes
# ---

# %% [markdown]
# # Try OES on your own image
#
# The paper's two steps on a photo of yours, at the photo's own size: learn which weights of a random
# hourglass network to keep from the photo alone (the OES mask, Algorithm 1), then train that sparse
# network — Sparse-DIP — on the photo without early stopping (§3.2). It removes noise (`task =
# "denoising"`) or fills in the pixels you paint white in a mask image (`task = "inpainting"`).
#
# **On Colab**, run the cells: the third one asks you to upload a PNG or JPEG (and, for inpainting, a
# mask of the same size). **Elsewhere**, set `image` (and `mask_image`) in the parameters cell to a file
# path. Without an image, the page uses a crop of scikit-image's *coffee* photo with noise added, so that
# the result can be compared with the clean original.
#
# The same from a terminal: `oes denoise PHOTO.png` or `oes inpaint PHOTO.png --mask-image MASK.png`.
# Before training, both print the photo's size, the network's parameter counts and an estimate of the
# time on this device, measured on a few steps; `quick` takes minutes on a laptop CPU for a photo of
# about 100×150 pixels, longer for larger ones (the time grows with the number of pixels).

# %% tags=["remove-cell"]
# On Colab: install oes at the commit of this book. Written by `oes book sync` from _config.yml; edit it there.
import os
import sys

if "google.colab" in sys.modules:
    OES_INSTALL = os.environ.get("OES_INSTALL_SPEC", "oes @ git+https://github.com/oes-companion/oes@main")
    import importlib
    import tempfile
    from importlib.metadata import version

    # Colab's own torch (a CUDA build, used when a GPU is attached): pinned, so pip keeps it
    OES_KEEP = os.path.join(tempfile.gettempdir(), "oes-keep-torch.txt")
    with open(OES_KEEP, "w") as f:
        f.write(f"torch=={version('torch')}\n")
    # %pip install -q -c "$OES_KEEP" "$OES_INSTALL"
    importlib.invalidate_caches()
    import oes  # fails here, below pip's message, when the installation did
    import torch

    if torch.cuda.is_available():  # the page's runs then train on the GPU (the device is part of their keys)
        os.environ.setdefault("OES_DEVICE", "cuda")
    print(f"oes {oes.__version__} from {OES_INSTALL}; torch {torch.__version__} on "
          + (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (Runtime > Change runtime type for a GPU)"))

# %% tags=["parameters"]
preset = "smoke"        # smoke | quick | paper: the network, the step counts and the sparsity
image = None            # a PNG/JPEG path; None: upload one on Colab, else the built-in photo
task = "denoising"      # denoising | inpainting
mask_image = None       # inpainting mask, same size, white = pixels to fill in (None: draws strokes)
add_noise = None        # σ in /255 added first, a demo; None means 25 for the built-in photo, 0 for yours
device = "auto"         # auto | cpu | cuda | mps
seed = 0

# %%
from pathlib import Path

import numpy as np
from IPython.display import Image, display
from skimage import data, io

from oes.presets import get_preset
from oes.restore import restore

P = get_preset(preset)
if image is None and "google.colab" in sys.modules:
    from google.colab import files

    print("Choose a PNG or JPEG photo:")
    image = next(iter(files.upload()))
    if task == "inpainting" and mask_image is None:
        print("Choose its mask (same size; white = pixels to fill in):")
        mask_image = next(iter(files.upload()))
builtin = image is None
if builtin:
    photo = data.coffee()[90:210, 210:390]          # 120×180 colour crop of scikit-image's coffee
    name = "coffee (crop)"
    if add_noise is None:
        add_noise = 25.0
else:
    photo, name = image, Path(image).name
if task == "inpainting" and mask_image is None:
    h, w = (photo if builtin else io.imread(photo)).shape[:2]
    strokes = np.zeros((h, w), np.uint8)
    for k in range(3):                               # three diagonal strokes, 4 pixels wide
        for r in range(h):
            c = (r + k * w // 3) % w
            strokes[r, max(0, c - 2):c + 2] = 255
    mask_image = strokes
print(f"preset {P.name}; image: {name}; task: {task}")
for d in P.deviations:
    print("  deviation from the paper:", d)

# %% [markdown]
# ## Restore it
# `oes.restore.restore` prints the plan and its time estimate, then learns the mask and trains the sparse
# network under one progress bar, and writes the restored image (same size, same colour or gray), a
# figure, the mask and the history into `runs/own_image/`.

# %%
out_dir = Path(os.environ.get("OES_RUNS_DIR", "runs")) / "own_image" / f"{Path(str(name)).stem.split()[0]}-{task}"
res = restore(photo, out_dir, operator=task, mask_image=mask_image, preset=preset, device=device, seed=seed,
              add_noise=add_noise or None, overwrite=True, name=name)
display(Image(filename=str(res.files["figure.png"])))

# %% [markdown]
# ## What came out
# The restored file has exactly the input's rows and columns; the table compares the time estimate
# printed above with the time measured.

# %%
s = res.summary
rows = {"input shape": tuple(s["shape"]), "padded for the network to": tuple(s["padded"]),
        "parameters / kept by OES": f"{s['parameters']:,} / {s['kept']:,} ({s['density']:.1%})",
        "time estimated / measured": f"{res.estimate['total']:.1f} s / {res.seconds['total']:.1f} s",
        "final loss": f"{s['final_loss']:.3g}"}
if s.get("final_psnr") is not None:
    rows["PSNR against the clean photo"] = f"{s['input_psnr']:.2f} dB (input) → {s['final_psnr']:.2f} dB (restored)"
for k, v in rows.items():
    print(f"{k:>28}: {v}")
print("files:", ", ".join(str(p) for p in res.files.values()))
if "google.colab" in sys.modules:
    from google.colab import files

    files.download(str(res.files["restored.png"]))

# %% [markdown]
# At `smoke` the network is tiny and trains for a handful of steps, so the output is a blur: the preset
# only checks that the page runs. Use `quick` (minutes on a CPU) or `paper` (the paper's network and step
# counts, a GPU job: `device = "cuda"`) for a real result.
