from aienv.cli import console_main

console_main()
