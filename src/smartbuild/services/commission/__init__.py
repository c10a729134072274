"""Commissioning: point-to-point checks of a site against its inventory, kept in the journal."""

from smartbuild.services.commission.checks import CommissionOptions, Progress
from smartbuild.services.commission.run import REPORT_ENTRY, commission

__all__ = ["REPORT_ENTRY", "CommissionOptions", "Progress", "commission"]
