import sys

from aienv.cli import main

sys.exit(main())
