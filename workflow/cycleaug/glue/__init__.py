"""The glue between config.yaml and the rules: for each stage, the paths its rules read and write and
the command-line options they pass, as functions of the validated config.

``workflow/rules/X.smk`` imports its glue from ``cycleaug.glue.X`` and from nothing else, so a
reader finds a stage's glue in one hop, and the mappings can be unit-tested. ``paths`` names every
output location once; ``common`` holds what ``rule all`` and the stage targets need.
"""
