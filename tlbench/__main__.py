from tlbench.cli import main

main()
