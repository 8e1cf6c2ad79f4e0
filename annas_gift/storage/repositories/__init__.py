"""Repositories: all SQL lives here; each is built from an AsyncSession and never commits."""

from annas_gift.storage.repositories.decisions import ClassificationRepository, SelectionRepository
from annas_gift.storage.repositories.usage import UsageRepository
from annas_gift.storage.repositories.vpn import VPNEndpointRepository, VPNEndpointView, mask_url

__all__ = [
    "ClassificationRepository",
    "SelectionRepository",
    "UsageRepository",
    "VPNEndpointRepository",
    "VPNEndpointView",
    "mask_url",
]
