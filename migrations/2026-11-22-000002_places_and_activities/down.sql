SELECT softview.disable('reviews');
SELECT softview.disable('place_activities');
SELECT softview.disable('activities');
SELECT softview.disable('places');
DROP TABLE reviews, place_activities, activities, places;
