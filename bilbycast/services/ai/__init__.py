"""The AI assistant (product.md §8): providers, context and secret masking, proposals, threads."""
