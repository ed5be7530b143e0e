// kvfunda: one binary, many subcommands (see coordinator/cli/commands.h).
#include "coordinator/cli/commands.h"

int main(int argc, char** argv) { return kvfunda::cli::Main(argc, argv); }
