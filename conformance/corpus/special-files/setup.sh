# A FIFO in the context: the docker 20.10 client's context transfer drops it.
mkfifo ctx-fifo
