import StylizeCLI

Stylize.main()
