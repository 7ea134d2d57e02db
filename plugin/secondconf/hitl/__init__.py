"""The HITL approvals log."""
