"""Pure SSM maths: FFT convolution, diagonal scans, kernels, frequency responses, discretisation."""

from .discretize import bilinear as bilinear
from .discretize import zoh as zoh
from .fftconv import causal_conv as causal_conv
from .fftconv import causal_conv_mixing as causal_conv_mixing
from .fftconv import causal_conv_spectrum as causal_conv_spectrum
from .fftconv import fft_size as fft_size
from .kernels import causal_output_frequency as causal_output_frequency
from .kernels import frequency_response as frequency_response
from .kernels import periodic_output as periodic_output
from .kernels import ssm_kernel as ssm_kernel
from .kernels import truncated_kernel_spectrum as truncated_kernel_spectrum
from .scan import linear_recurrence as linear_recurrence
