// Loaded after RequireJS and before the widget manager (embed-amd.js) on pages with widgets.
(function () {
  // 1. The widget bundles find their fonts next to the URL RequireJS gives their module:
  //    point every @jupyter-widgets module at this folder (the site works offline).
  var here = document.currentScript.src;
  var folder = here.slice(0, here.lastIndexOf("/"));
  require.config({
    paths: {
      "@jupyter-widgets/html-manager/dist": folder,
      "@jupyter-widgets": folder,
    },
  });
  // 2. The widgets typeset math with MathJax 2's MathJax.Hub.Queue; the book uses MathJax 3.
  //    Give every MathJax object a small Hub that forwards to MathJax 3's typesetPromise.
  function withHub(mj) {
    if (mj && typeof mj === "object" && !mj.Hub) {
      mj.Hub = {
        Queue: function (job) {
          var el = job && job[2];
          if (window.MathJax && window.MathJax.typesetPromise && el) {
            window.MathJax.typesetPromise([el]).catch(function () {});
          }
        },
      };
    }
    return mj;
  }
  var current = withHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); },
  });
})();
