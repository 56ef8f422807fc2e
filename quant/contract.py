"""Constants of the numeric contract (docs/numerics.md). Numbers only: both the golden model
(quant/intops.py) and the model's integer forward (model/intfn.py) read them, and each
implements the arithmetic on its own."""

# Integer exp (I-BERT i-exp) at EXP_FRAC fractional bits.
EXP_FRAC = 10
EXP_LN2 = 710            # round(ln 2 * 2^10)
EXP_B = 1385             # round(1.353 * 2^10)
EXP_C = 1006151          # round(0.344 / 0.3585 * 2^20)
EXP_MAX_SHIFT = 31
SOFTMAX_RECIP_BITS = 32  # recip = floor(2^32 / sum)
SOFTMAX_OUT_FRAC = 8     # probabilities are uint8 at 2^-8, saturated to 255
SOFTMAX_OUT_MAX = 255

# Integer GELU (I-BERT erf polynomial) at GELU_FRAC fractional bits.
GELU_FRAC = 10
GELU_CLIP = 2562         # round(1.769 * sqrt(2) * 2^10): |x| is clipped here
GELU_A = 9463            # round(0.2888 / 2 * 2^16)
GELU_A_SHIFT = 16
GELU_OUT_FRAC = 3 * GELU_FRAC + 1  # x * (1 + erf) at frac 30 is 2*GELU at frac 30

# Integer LayerNorm.
LN_RECIP_BITS = 32       # recip = floor(2^32 / den)
LN_NORM_FRAC = 8         # normalised value at 2^-8

# Piecewise-linear sigmoid (PLAN), output Q0.8 in [0, 256].
SIGMOID_OUT_FRAC = 8
KEEP_THRESHOLD = 128     # keep a token when its score (Q0.8) >= 0.5

ACT_BITS = 8             # activations: signed int8 [-128, 127]
WEIGHT_BITS = 8          # weights: signed narrow int8 [-127, 127]
BIAS_BITS = 32

# Token reduction methods (EViT, ToMe, PPT, CP-ViT; docs/numerics.md "Reduction methods").
LOG_SIZE_FRAC = 16       # proportional attention: ln(size) as round(ln(s) * 2^16), a ROM table
SIM_UNIT_FRAC = 7        # keys for matching are scaled to unit length at 2^7 (|u_c| <= 128)
PPT_TAU_FRAC = 40        # PPT's variance threshold tau as an integer at 2^-40
