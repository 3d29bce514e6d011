#include "iommuvm/cli/cli.hpp"

int main(int argc, char** argv) { return iommuvm::cli::main(argc, argv); }
