"""Runtime helpers every part uses: ``paths`` (where every file lives), ``atomic`` (writes that appear
whole or not at all), ``parallel`` (the cores, a thread per core), ``numerics`` (the same CPU arithmetic
on every machine), ``accel`` (mixed precision and memory layout per device), ``distributed`` (torchrun)."""
