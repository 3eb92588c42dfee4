"""Pretrained-network architectures used by Faceswap: CLIP's vision models (Phaze-A's
``clipv_*`` encoders) and the AlexNet and SqueezeNet trunks of LPIPS."""
from __future__ import annotations

from lib.model.networks.clip import TypeModelsViT, ViT
from lib.model.networks.simple_nets import AlexNet, SqueezeNet

__all__ = ["AlexNet", "SqueezeNet", "TypeModelsViT", "ViT"]
