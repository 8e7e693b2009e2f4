document.querySelectorAll("a[data-width]").forEach(function (a) {
  a.addEventListener("click", function (event) {
    var frame = document.getElementById("edition");
    if (!frame) return;
    event.preventDefault();
    frame.width = a.getAttribute("data-width");
    document.querySelectorAll("a[data-width]").forEach(function (b) {
      b.classList.toggle("current", b === a);
    });
    document.querySelectorAll("input[name=w]").forEach(function (i) {
      i.value = a.getAttribute("data-width");
    });
    history.replaceState(null, "", a.href);
  });
});
