"""Attention blocks for spiking networks."""
from .tcja import MODES as TCJA_MODES, TCJA, convert_original_state_dict, tcja, tcja_gate

__all__ = ["TCJA", "tcja", "tcja_gate", "convert_original_state_dict", "TCJA_MODES"]
