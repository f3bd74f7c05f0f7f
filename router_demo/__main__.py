import sys

from router_demo.cli import main

sys.exit(main())
