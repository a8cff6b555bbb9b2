# Starts moto's server on the given host and port, and exits when the process
# that started it dies, so no moto outlives a killed test or demo.
import os
import sys
import threading
import time

host, port = sys.argv[1], sys.argv[2]
parent = os.getppid()


def watch_parent():
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


threading.Thread(target=watch_parent, daemon=True).start()

from moto.server import main  # noqa: E402  (imported after the watchdog starts)

main(["-H", host, "-p", port])
