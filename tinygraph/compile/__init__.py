"""The compiler: the rewrite engine, the passes and the pipeline that runs them."""
