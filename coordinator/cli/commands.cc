#include "coordinator/cli/commands.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "coordinator/base/log.h"
#include "coordinator/cli/subcommand.h"

namespace kvfunda::cli {

std::string ReadTokenFile(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path);
  if (!in) {
    std::cerr << "kvfunda: cannot read token file " << path << "\n";
    std::exit(2);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  return token;
}

int Main(int argc, char** argv) {
  CLI::App app{"kvfunda: what does KV-cache compression cost a model's fundamental abilities?\n"
               "Runs KVFundaBench sweeps (model x method x ratio x task x shots) on workers."};
  app.require_subcommand(1);
  std::string log_level = "info";
  bool log_json = false;
  app.add_option("--log-level", log_level, "debug, info, warning or error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
  app.add_flag("--log-json", log_json, "log one JSON object per line");

  CommandTable table;
  AddCoordinatorCommand(app, table);
  AddWorkerCommand(app, table);
  AddClientCommands(app, table);
  AddRunCommand(app, table);
  AddModelCommands(app, table);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; usage errors exit 2, like the other input errors (CLI11's own
    // codes, 105 and up, would read like crashes).
    return app.exit(e) == 0 ? 0 : 2;
  }
  LogLevel level = log_level == "debug"     ? LogLevel::kDebug
                   : log_level == "warning" ? LogLevel::kWarning
                   : log_level == "error"   ? LogLevel::kError
                                            : LogLevel::kInfo;
  for (const CLI::App* sub : app.get_subcommands()) {
    SetLogOptions(level, log_json, sub->get_name());
    auto it = table.find(sub);
    if (it != table.end()) return it->second();
  }
  std::cerr << app.help();
  return 2;
}

}  // namespace kvfunda::cli
