// Internal to the CLI: each subcommand file adds itself to the root CLI11 app and
// registers the function that runs it. Flags are bound to a struct owned by that
// function's closure; nothing is global.
#pragma once

#include <functional>
#include <map>
#include <string>

#include <CLI/CLI.hpp>

namespace kvfunda::cli {

// Maps a parsed subcommand to the code that runs it (returns the exit status).
using CommandTable = std::map<const CLI::App*, std::function<int()>>;

void AddCoordinatorCommand(CLI::App& root, CommandTable& table);
void AddWorkerCommand(CLI::App& root, CommandTable& table);
void AddClientCommands(CLI::App& root, CommandTable& table);  // submit status resume cancel results
void AddRunCommand(CLI::App& root, CommandTable& table);
void AddModelCommands(CLI::App& root, CommandTable& table);  // generate tokenize model-info

// Reads a secret from a file (trailing newline trimmed); "" when path is empty.
// Exits with a message when the file cannot be read.
std::string ReadTokenFile(const std::string& path);

}  // namespace kvfunda::cli
