"""mask.profanity: an example third-party plugin for the Korean chatbot toolkit."""

from chatbot_mask_profanity.plugin import MaskConfig, ProfanityMask

__all__ = ["MaskConfig", "ProfanityMask"]
