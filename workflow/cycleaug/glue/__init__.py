"""The glue between config.yaml and the rules: for each stage, the options its rules pass, and the inputs
and outputs they name, as functions of the validated config.

``workflow/rules/X.smk`` takes its stage's glue from ``cycleaug.glue.X``, every output location from
``paths`` (named once there) and the target lists behind ``rule all`` and the stage targets from
``common``; nothing is re-exported, so a name is found in the module that defines it, and the mappings
can be unit-tested.
"""
