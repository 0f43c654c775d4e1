"""Sharing a state and taking it elsewhere: links, plan files, code export, checkpoints, the CLI.

urlstate    the dashboard's state as URL query parameters, read back part by part
plan_io     plan files (versioned JSON), read with every problem listed
export      export_code: a torch-only script that reproduces a plan bit for bit
checkpoint  load_checkpoint (weights_only, size cap, keys and shapes checked), save_state_dict
cli         the `pinit` command (python -m pinit)
"""
