from pegkeeper.cli import main

main()
