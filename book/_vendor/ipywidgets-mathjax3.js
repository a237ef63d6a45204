/* The ipywidgets html-manager typesets widget labels through the MathJax 2 API,
   MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book loads MathJax 3, where
   that call throws. Give MathJax 3 this one entry point so labels are typeset instead.
   Loaded before html-manager/embed.js (see nb_ipywidgets_js in _config.yml). */
(function () {
  function install() {
    var mj = window.MathJax;
    if (!mj || !mj.startup) return false; // still the config object: MathJax not loaded yet
    if (!mj.Hub) {
      mj.Hub = {
        Queue: function (command) {
          var element = command && command[2];
          mj.startup.promise
            .then(function () { return mj.typesetPromise(element ? [element] : undefined); })
            .catch(function (err) { console.warn("MathJax could not typeset a widget label", err); });
        },
      };
    }
    return true;
  }
  if (!install()) document.addEventListener("DOMContentLoaded", install);
})();
