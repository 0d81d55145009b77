"""Image-quality metrics shared by training, validation and benchmarks."""
