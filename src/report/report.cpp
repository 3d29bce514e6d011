#include "iommuvm/report/report.hpp"

#include <sstream>

#include "iommuvm/util/fs.hpp"

namespace iommuvm::report {

void run_report(const std::filesystem::path& results_dir, const ReportOptions& opts, std::ostream& out) {
  std::filesystem::path dir = results::resolve_campaign_dir(results_dir);
  results::CampaignData data = results::load_campaign(dir);
  results::Summary s = results::summarize(data, opts.summary);
  results::write_summary_files(s, data.dir);

  std::filesystem::path report_dir = opts.output.empty() ? data.dir / "report" : opts.output;
  RenderOutcome outcome;
  if (opts.figures) outcome = render_figures(build_figures(s), report_dir / "figures", opts.gnuplot);
  std::ostringstream md;
  write_markdown(s, opts.figures ? &outcome : nullptr, md);
  fs::atomic_write(report_dir / "report.md", md.str());

  switch (opts.format) {
    case ReportOptions::Format::md:
      out << md.str();
      break;
    case ReportOptions::Format::csv:
      results::write_csv(s, out);
      break;
    case ReportOptions::Format::json:
      out << results::to_json(s).dump(2) << "\n";
      break;
  }
}

}  // namespace iommuvm::report
