// The kvfunda command line: `kvfunda <subcommand> [options]`, each with --help.
// Subcommands: coordinator, worker, submit, status, resume, cancel, results, run, and
// the model tools generate, tokenize, model-info.
// Threading: Main() runs on the main thread; flags and environment are read here
// once and passed down as config structs.
#pragma once

namespace kvfunda::cli {

// Parses argv, runs the subcommand, returns the process exit status.
int Main(int argc, char** argv);

}  // namespace kvfunda::cli
