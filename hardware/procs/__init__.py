"""Custom Lava processes for operations Loihi cannot run natively (host/CPU processes).

Lava's compiler imports every ``.py`` file in this folder when it searches for process models:
keep only process and process-model definitions here (no scripts, no side effects).
"""
