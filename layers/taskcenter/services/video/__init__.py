"""Video generation (docs/video.md): the OpenAI Videos API surface, content, pricing settlement."""
