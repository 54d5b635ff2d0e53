"""The networks: ``cnn`` (the report's SRCNN, the residual SRCNN, a ResNet and a U-Net), ``blind`` (the blind
Wiener network: sigma estimate, Wiener deconvolution, CNN refiner, no-harm gate; ``GivenSigma`` gives it
one sigma), ``layers`` (their blocks) and ``registry`` (every network by name, parameter counts, the
course's 15M limit)."""
