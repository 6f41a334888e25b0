"""oes — a reproducible companion to *Optimal Eye Surgeon* (Ghosh et al., ICML 2024)."""
__version__ = "0.1.0"

from .generators import GeneratorConfig, build_generator, deep_decoder, hourglass, make_input  # noqa: E402
from .masks import Mask, MaskError, maskable_names  # noqa: E402
from .operators import Denoising, Inpainting, Operator, build_operator  # noqa: E402
from .fit import FitConfig, FitResult, fit  # noqa: E402
from .learn import Concrete, MaskConfig, MaskResult, kl_bernoulli, learn_mask, masked_output, rank_mask  # noqa: E402
from .metrics import psnr, ssim  # noqa: E402

__all__ = ["__version__", "GeneratorConfig", "build_generator", "deep_decoder", "hourglass", "make_input",
           "Mask", "MaskError", "maskable_names", "Denoising", "Inpainting", "Operator", "build_operator",
           "FitConfig", "FitResult", "fit", "Concrete", "MaskConfig", "MaskResult", "kl_bernoulli",
           "learn_mask", "masked_output", "rank_mask", "psnr", "ssim"]
