"""The glue between config.yaml and the rules: for each stage, the options its rules pass, and the inputs
and outputs they name, as functions of the validated config.

``workflow/rules/X.smk`` takes its stage's glue from ``cycleaug.glue.X``, every output location from
``paths`` (named once there) and the target lists behind ``rule all`` and the stage targets from
``common``; ablation.smk also the generate stage's options (its rules are generate's, reused with ``use
rule``), and rule names come from ``cycleaug.jobnames``. Nothing is re-exported, so a name is found in
the module that defines it (tests/test_glue.py checks each rule file's imports), and the mappings can be
unit-tested.
"""
