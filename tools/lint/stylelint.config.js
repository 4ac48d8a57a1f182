// Stylelint for the report page's style sheet (pdebug/report/static/report.css): the
// standard configuration, unchanged.
export default {
  extends: ["stylelint-config-standard"],
};
