"""Calibration experiments for the presets (evidence for docs/calibration.md).

For one configuration: learn an OES mask on y, report the hard-masked image at init, then
train Sparse-DIP and dense DIP with the same loop and print best/final PSNR.
"""
import argparse, json, time
import torch
from oes import *
from oes.data import load_image

ap = argparse.ArgumentParser()
ap.add_argument("--image", default="astronaut"); ap.add_argument("--size", type=int, default=64)
ap.add_argument("--channels", default="16,32,64,128"); ap.add_argument("--kd", type=int, default=5)
ap.add_argument("--sparsity", type=float, default=0.05); ap.add_argument("--mask-steps", type=int, default=1500)
ap.add_argument("--mask-lr", type=float, default=0.1); ap.add_argument("--lam", type=float, default=1e-9)
ap.add_argument("--maskable", default="all"); ap.add_argument("--samples", type=int, default=1)
ap.add_argument("--steps", type=int, default=3000); ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--sigma", type=float, default=25); ap.add_argument("--dense", action="store_true")
ap.add_argument("--prior", type=float, default=None); ap.add_argument("--no-train", action="store_true")
ap.add_argument("--save", default=None, help="save the masked-at-init image (png)")
a = ap.parse_args()
torch.set_num_threads(2)
gcfg = GeneratorConfig(channels=tuple(int(c) for c in a.channels.split(",")), kernel_down=a.kd)
x = load_image(a.image, a.size); op = Denoising(a.sigma)
y = op.measure(x, torch.Generator().manual_seed(a.seed))
z = make_input(gcfg, a.size, a.seed)
net = build_generator(gcfg, a.seed)
d = sum(p.numel() for p in net.parameters())
print(f"params {d}  pixels {x.numel()}  y psnr {psnr(y, x):.2f}")
res = {}
mcfg = MaskConfig(sparsity=a.sparsity, steps=a.mask_steps, lr=a.mask_lr, lam=a.lam, maskable=a.maskable,
                  samples=a.samples, prior=a.prior, record_every=100)
mr = learn_mask(net, z, y, op, cfg=mcfg, seed=a.seed, x_true=x, progress=False)
h = mr.history
print(h.iloc[::max(1, len(h)//6)].to_string(index=False))
p = mr.probabilities
print(f"mask {mr.seconds:.1f}s kept {mr.mask.n_kept} collapsed {mr.collapsed} p>0.9 {float((p>0.9).float().mean()):.4f} p<0.1 {float((p<0.1).float().mean()):.3f}")
init = masked_output(net, z, mr.mask)
print(f"masked-at-init psnr {psnr(init, x):.2f}")
if a.save:
    from skimage import io
    from oes.metrics import to_numpy_image
    import numpy as np
    io.imsave(a.save, (np.concatenate([to_numpy_image(y.clamp(0,1)), to_numpy_image(init), to_numpy_image(x)], 1) * 255).astype("uint8"))
if a.no_train:
    raise SystemExit
fc = FitConfig(steps=a.steps, record_every=50)
net_s = build_generator(gcfg, a.seed)
r = fit(net_s, z, y, op, cfg=fc, mask=mr.mask, x_true=x, progress=False)
print(f"SPARSE best {r.best_psnr:.2f}@{r.best_step} final {r.final_psnr:.2f} loss {r.history.loss.iloc[-1]:.5f} {r.seconds:.1f}s")
print("  curve", [round(v, 1) for v in r.history.psnr.iloc[::6]])
if a.dense:
    r = fit(build_generator(gcfg, a.seed), z, y, op, cfg=fc, x_true=x, progress=False)
    print(f"DENSE best {r.best_psnr:.2f}@{r.best_step} final {r.final_psnr:.2f} loss {r.history.loss.iloc[-1]:.5f} {r.seconds:.1f}s")
    print("  curve", [round(v, 1) for v in r.history.psnr.iloc[::6]])
