"""What an init does to the signal: probes, LSUV, depth sweeps, comparisons, training, pictures.

Plain values in, plain values out (DataFrames, arrays, dataclasses): every experiment
builds its own model from (name, options, plan, seed) and never draws, so a page may
cache its results by value. The figures for these results are in `pinit.lab.figures`.

    probes     probe_batch, activation_stats, gradient_stats, predicted_std_trend
    lsuv       LSUV (Mishkin & Matas 2015)
    data       synthetic gratings (nothing downloaded)
    train      a short seeded SGD loop and evaluation
    signal     signal_flow: one configuration on the probe batch
    depth      the DeepMLP depth lab and the symmetry table
    compare    plan A against plan B
    training   train_run: SimpleCNN from one plan, held-out accuracy
    pictures   filter grids and pooled weight heatmaps
"""
