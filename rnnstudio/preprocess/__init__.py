"""Raw values to tensors: text encoding, series scaling and windows, augmentation.

Every fitted object learns from the training split only and saves itself with
``to_dict()`` / ``from_dict()`` as plain JSON, so a saved run turns a raw row
into exactly the tensor it was trained on.
"""

from rnnstudio.preprocess.series import Scaler, detect_season, make_windows
from rnnstudio.preprocess.text import TextEncoder, pad_sequences

__all__ = ["Scaler", "TextEncoder", "detect_season", "make_windows", "pad_sequences"]
