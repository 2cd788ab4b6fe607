from unpod_etl.cli.main import main

main()
