"""What users run: scenario scripts, parameter scans, figures, benchmarks and the
``sleep-snn`` command."""
